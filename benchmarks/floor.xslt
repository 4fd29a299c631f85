<?xml version="1.0" encoding="UTF-8"?>
<!--
  The benchmark's floor: the NSW -> portal mapping of mappings/submission.yaml written as one
  XSLT 1.0 stylesheet, run by libxml2/libxslt entirely in C. Input: a <Dossier> wrapper holding
  the Content document elements and a <Codes> table (icao-nationality, flags, border gates).
  Close enough to time, not a second implementation: names are folded with translate() over a
  table of Latin letters (no anyascii), and ExpectedTime is reformatted without converting offsets.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns="urn:vn:bienphong:portal:1">
  <xsl:output method="xml" encoding="UTF-8"/>
  <xsl:param name="client-message-id" select="'benchmark'"/>
  <xsl:key name="icao" match="Codes/Country" use="@code"/>
  <xsl:key name="gate" match="Codes/Gate" use="@locode"/>

  <!-- Letter folding table (same length strings), computed by benchmarks/translate.py from names.py. -->
  <xsl:param name="from" select="''"/>
  <xsl:param name="to" select="''"/>

  <xsl:template name="full-name">
    <xsl:param name="family"/>
    <xsl:param name="given"/>
    <xsl:value-of select="normalize-space(translate(translate(concat($family, ' ', $given), &quot;'&quot;, ''), $from, $to))"/>
  </xsl:template>

  <xsl:template name="date">
    <xsl:param name="d"/>
    <xsl:value-of select="concat(substring($d, 9, 2), '/', substring($d, 6, 2), '/', substring($d, 1, 4))"/>
  </xsl:template>

  <xsl:template match="/Dossier">
    <xsl:variable name="gd" select="GeneralDeclaration"/>
    <Submission>
      <ClientReference><xsl:value-of select="@reference"/></ClientReference>
      <ClientMessageId><xsl:value-of select="$client-message-id"/></ClientMessageId>
      <Procedure><xsl:value-of select="substring('NCXC', 2 * @documentType - 1, 2)"/></Procedure>
      <BorderGate><xsl:value-of select="key('gate', normalize-space($gd/PortOfCallCode))/@station"/></BorderGate>
      <Vessel>
        <IMO><xsl:value-of select="normalize-space($gd/IMONumber)"/></IMO>
        <Name><xsl:value-of select="translate(normalize-space($gd/NameOfShip), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"/></Name>
        <CallSign><xsl:value-of select="normalize-space($gd/CallSign)"/></CallSign>
        <xsl:if test="$gd/MMSI"><MMSI><xsl:value-of select="normalize-space($gd/MMSI)"/></MMSI></xsl:if>
        <Flag><xsl:value-of select="key('icao', normalize-space($gd/FlagStateOfShip))/@alpha3"/></Flag>
        <ShipType><xsl:value-of select="normalize-space($gd/TypeOfShipCode)"/></ShipType>
        <GrossTonnage><xsl:value-of select="normalize-space($gd/GrossTonnage)"/></GrossTonnage>
        <NetTonnage><xsl:value-of select="normalize-space($gd/NetTonnage)"/></NetTonnage>
      </Vessel>
      <Voyage>
        <VoyageNumber><xsl:value-of select="normalize-space($gd/VoyageNumber)"/></VoyageNumber>
        <xsl:variable name="t" select="normalize-space($gd/ArrivalOrDepartureTime)"/>
        <ExpectedTime><xsl:value-of select="concat(substring($t, 9, 2), '/', substring($t, 6, 2), '/', substring($t, 1, 4), ' ', substring($t, 12, 5))"/></ExpectedTime>
        <LastPort><xsl:value-of select="normalize-space($gd/LastPortOfCallCode)"/></LastPort>
        <NextPort><xsl:value-of select="normalize-space($gd/NextPortOfCallCode)"/></NextPort>
        <xsl:if test="$gd/PositionOfShipInPort"><Berth><xsl:value-of select="normalize-space($gd/PositionOfShipInPort)"/></Berth></xsl:if>
        <Purpose><xsl:value-of select="normalize-space($gd/PurposeOfCallCode)"/></Purpose>
      </Voyage>
      <Master>
        <FullName><xsl:call-template name="full-name"><xsl:with-param name="family" select="$gd/NameOfMaster"/></xsl:call-template></FullName>
        <Nationality><xsl:value-of select="key('icao', normalize-space(CrewLists/CrewList[1]/Nationality))/@icao"/></Nationality>
      </Master>
      <Agent>
        <Name><xsl:value-of select="normalize-space($gd/ShipAgentName)"/></Name>
        <TaxCode><xsl:value-of select="normalize-space($gd/ShipAgentTaxCode)"/></TaxCode>
        <Phone><xsl:value-of select="normalize-space($gd/ShipAgentPhone)"/></Phone>
        <xsl:if test="$gd/ShipAgentEmail"><Email><xsl:value-of select="normalize-space($gd/ShipAgentEmail)"/></Email></xsl:if>
      </Agent>
      <CrewCount><xsl:value-of select="count(CrewLists/CrewList)"/></CrewCount>
      <PassengerCount><xsl:value-of select="count(PassengerList/Passenger)"/></PassengerCount>
      <StowawayCount><xsl:value-of select="count(StowawayDeclaration/Stowaway)"/></StowawayCount>
      <Persons>
        <xsl:for-each select="CrewLists/CrewList">
          <xsl:sort select="CrewCode" data-type="number"/>
          <Person>
            <Category>TV</Category>
            <No><xsl:value-of select="normalize-space(CrewCode)"/></No>
            <xsl:call-template name="person">
              <xsl:with-param name="doc-type" select="PassportTypeCode"/>
              <xsl:with-param name="doc-number" select="PassportNumber"/>
              <xsl:with-param name="issuer" select="PassportIssuingState"/>
              <xsl:with-param name="expiry" select="PassportExpiryDate"/>
            </xsl:call-template>
            <xsl:if test="VisaNumber"><VisaNumber><xsl:value-of select="normalize-space(VisaNumber)"/></VisaNumber></xsl:if>
            <Rank><xsl:value-of select="normalize-space(RankCode)"/></Rank>
            <ShorePassRequested><xsl:value-of select="normalize-space(GoAshore) = '1'"/></ShorePassRequested>
          </Person>
        </xsl:for-each>
        <xsl:for-each select="PassengerList/Passenger">
          <xsl:sort select="PassengerCode" data-type="number"/>
          <Person>
            <Category>HK</Category>
            <No><xsl:value-of select="normalize-space(PassengerCode)"/></No>
            <xsl:call-template name="person">
              <xsl:with-param name="doc-type" select="TypeOfIdentity"/>
              <xsl:with-param name="doc-number" select="SerialNumberOfIdentity"/>
              <xsl:with-param name="issuer" select="IdentityIssuingState"/>
              <xsl:with-param name="expiry" select="IdentityExpiryDate"/>
            </xsl:call-template>
            <xsl:if test="VisaNumber"><VisaNumber><xsl:value-of select="normalize-space(VisaNumber)"/></VisaNumber></xsl:if>
            <EmbarkPort><xsl:value-of select="normalize-space(PortOfEmbarkationCode)"/></EmbarkPort>
            <DisembarkPort><xsl:value-of select="normalize-space(PortOfDisembarkationCode)"/></DisembarkPort>
            <InTransit><xsl:value-of select="normalize-space(IsTransit) = '1'"/></InTransit>
            <ShorePassRequested><xsl:value-of select="normalize-space(GoAshore) = '1'"/></ShorePassRequested>
          </Person>
        </xsl:for-each>
        <xsl:for-each select="StowawayDeclaration/Stowaway">
          <xsl:sort select="StowawayCode" data-type="number"/>
          <Person>
            <Category>TT</Category>
            <No><xsl:value-of select="normalize-space(StowawayCode)"/></No>
            <FullName>
              <xsl:choose>
                <xsl:when test="FamilyName or GivenName">
                  <xsl:call-template name="full-name">
                    <xsl:with-param name="family" select="FamilyName"/>
                    <xsl:with-param name="given" select="GivenName"/>
                  </xsl:call-template>
                </xsl:when>
                <xsl:otherwise>UNKNOWN</xsl:otherwise>
              </xsl:choose>
            </FullName>
            <xsl:if test="FamilyName or GivenName"><NameAsDeclared><xsl:value-of select="normalize-space(concat(FamilyName, ' ', GivenName))"/></NameAsDeclared></xsl:if>
            <xsl:if test="Nationality"><Nationality><xsl:value-of select="key('icao', normalize-space(Nationality))/@icao"/></Nationality></xsl:if>
            <xsl:if test="PortOfBoardingCode"><EmbarkPort><xsl:value-of select="normalize-space(PortOfBoardingCode)"/></EmbarkPort></xsl:if>
            <ShorePassRequested>false</ShorePassRequested>
            <xsl:if test="EstimatedAge"><EstimatedAge><xsl:value-of select="normalize-space(EstimatedAge)"/></EstimatedAge></xsl:if>
            <FoundDate><xsl:call-template name="date"><xsl:with-param name="d" select="normalize-space(DateFound)"/></xsl:call-template></FoundDate>
            <xsl:if test="Remarks"><Remarks><xsl:value-of select="normalize-space(Remarks)"/></Remarks></xsl:if>
          </Person>
        </xsl:for-each>
      </Persons>
      <xsl:if test="ArmsDeclaration/Item">
        <Arms>
          <xsl:for-each select="ArmsDeclaration/Item">
            <xsl:sort select="ItemCode" data-type="number"/>
            <Item>
              <Kind><xsl:value-of select="normalize-space(Kind)"/></Kind>
              <Description><xsl:value-of select="normalize-space(Description)"/></Description>
              <Quantity><xsl:value-of select="normalize-space(Quantity)"/></Quantity>
              <Unit><xsl:value-of select="normalize-space(Unit)"/></Unit>
              <StorageLocation><xsl:value-of select="normalize-space(StorageLocation)"/></StorageLocation>
            </Item>
          </xsl:for-each>
        </Arms>
      </xsl:if>
    </Submission>
  </xsl:template>

  <!-- The fields crew and passengers share, from FullName to DocExpiry. -->
  <xsl:template name="person">
    <xsl:param name="doc-type"/>
    <xsl:param name="doc-number"/>
    <xsl:param name="issuer"/>
    <xsl:param name="expiry"/>
    <FullName><xsl:call-template name="full-name"><xsl:with-param name="family" select="FamilyName"/><xsl:with-param name="given" select="GivenName"/></xsl:call-template></FullName>
    <NameAsDeclared><xsl:value-of select="normalize-space(concat(FamilyName, ' ', GivenName))"/></NameAsDeclared>
    <Nationality><xsl:value-of select="key('icao', normalize-space(Nationality))/@icao"/></Nationality>
    <BirthDate><xsl:call-template name="date"><xsl:with-param name="d" select="normalize-space(DateOfBirth)"/></xsl:call-template></BirthDate>
    <BirthPlace><xsl:value-of select="normalize-space(PlaceOfBirth)"/></BirthPlace>
    <Sex><xsl:value-of select="normalize-space(Gender)"/></Sex>
    <DocType><xsl:value-of select="normalize-space($doc-type)"/></DocType>
    <DocNumber><xsl:value-of select="normalize-space($doc-number)"/></DocNumber>
    <DocIssuer><xsl:value-of select="key('icao', normalize-space($issuer))/@icao"/></DocIssuer>
    <DocExpiry><xsl:call-template name="date"><xsl:with-param name="d" select="normalize-space($expiry)"/></xsl:call-template></DocExpiry>
  </xsl:template>
</xsl:stylesheet>
